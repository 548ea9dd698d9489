"""``python -m benchmarks [--quick] [--json OUT] [--only NAME ...] [--plot PNG]``: the benchmark suite
(the same command as ``trackpipe bench``)."""

from .suite import main

if __name__ == "__main__":
    main()
