"""``python -m benchmarks [--quick] [--sizes 1M,10M,50M] [--runs 3] [--stages ...] [--out ...]``."""

from benchmarks.harness import main

raise SystemExit(main())
