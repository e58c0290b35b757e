from gateway.testing.runner import main

raise SystemExit(main())
