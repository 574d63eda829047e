from humgen_storage.cli import main

raise SystemExit(main())
