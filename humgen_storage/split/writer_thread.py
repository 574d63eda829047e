"""A volume's part writer fed block by block, in a thread of its own when the volume
has block workers: compressing the group files (isal releases the GIL while it
compresses) then runs beside the decompression in the volume's process, instead of
after each block in the process that every block waits for.

The writer's own logic is unchanged and runs in one thread, in block order: its
buffers fill and flush exactly as when it is called in line, so every part holds the
same gzip members, byte for byte.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence

from humgen_storage.split.blocks import BlockSplit
from humgen_storage.split.groupfiles import GroupPartWriter, PartInfo

# Blocks waiting for the writer thread: enough to cover a block whose groups flush many
# members, few enough that memory stays a few blocks' selected lines.
QUEUED_BLOCKS = 3


class PartWriterThread:
    """Adds each block's ``BlockSplit`` to a ``GroupPartWriter``, in order: in a thread
    (``threaded``) or in the caller's.

    The thread starts with the first block, so that the block workers, forked before,
    never inherit it. An error in the thread is raised by the next ``add`` or by
    ``close``; meanwhile the thread drops what it is given, so that ``add`` never
    waits on a queue nobody empties.
    """

    def __init__(self, writer: GroupPartWriter, stems: Sequence[str], threaded: bool) -> None:
        self.writer = writer
        self.stems = stems  # the group files' stems, by group number (RouteTable.stems)
        self.threaded = threaded
        self._queue: queue.Queue[BlockSplit | None] = queue.Queue(QUEUED_BLOCKS)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._abandoned = False

    def add(self, split: BlockSplit) -> None:
        if not self.threaded:
            self._write(split)
            return
        if self._error is not None:
            raise self._error
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="split-writer", daemon=True)
            self._thread.start()
        self._queue.put(split)

    def close(self) -> dict[str, PartInfo]:
        """Every block written, every buffer flushed: the parts by group stem."""
        self._stop()
        if self._error is not None:
            raise self._error
        return self.writer.close()

    def abandon(self) -> None:
        """Drop the blocks not written yet and stop the thread (before the caller
        aborts the writer under it)."""
        self._abandoned = True
        self._stop()

    def _write(self, split: BlockSplit) -> None:
        slot, stems = self.writer.slot, self.stems
        self.writer.add_joined(
            (slot(stems[number]), data, lines, dirs) for number, data, lines, dirs in split.pieces()
        )

    def _run(self) -> None:
        while (split := self._queue.get()) is not None:
            if self._error is not None or self._abandoned:
                continue
            try:
                self._write(split)
            except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
                self._error = exc

    def _stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()
