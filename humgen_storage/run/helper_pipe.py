"""The pipe that brings block helpers' results back to the reading process
(``run/blocks.py``), large buffers beside the pickle rather than in it.

At the end of a volume each helper sends its partial aggregate, as large as it will
be. Pickled whole, it was copied into one bytes object (and, by protocol 4, each
array once more as it was pickled), and the other end kept that pickle whole while it
loaded the partial from it: each copy took as much memory as the partial itself.
Here an item is pickled with protocol 5 and its large buffers (the partial's numpy
columns) left out; they follow it through the pipe from where they lie, and arrive
each in memory of its own, which the loaded partial keeps.
"""

from __future__ import annotations

import mmap
import pickle
from dataclasses import dataclass
from typing import Any

# Received buffers at least this large get a mapping of their own (as run/mapped.py's
# arrays): a partial's columns, which live on in the partial loaded from them.
_MAPPED_BUFFER = 1 << 16


@dataclass
class Sender:
    """The sending end of a pipe shared by the helpers, as a queue's ``put``."""

    connection: Any
    lock: Any

    def put(self, item: Any) -> None:
        buffers: list[pickle.PickleBuffer] = []
        data = pickle.dumps(item, pickle.HIGHEST_PROTOCOL, buffer_callback=buffers.append)
        views = [buffer.raw() for buffer in buffers]
        with self.lock:  # one helper's item at a time, its buffers with it
            self.connection.send_bytes(data)
            self.connection.send([view.nbytes for view in views])
            for view in views:
                self.connection.send_bytes(view)


def received(connection: Any) -> Any:
    """The next item a ``Sender`` put, its buffers each received into memory of its
    own, writable (a partial loaded from them may take more blocks)."""
    data = connection.recv_bytes()
    buffers: list[bytearray | mmap.mmap] = []
    for size in connection.recv():
        buffer: bytearray | mmap.mmap
        if size >= _MAPPED_BUFFER:
            buffer = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE)
        else:
            buffer = bytearray(size)
        connection.recv_bytes_into(buffer)
        buffers.append(buffer)
    return pickle.loads(data, buffers=buffers)
