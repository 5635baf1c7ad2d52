from harness_cli.main import main

raise SystemExit(main())
