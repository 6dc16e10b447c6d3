"""Engine vs bare process benchmark; same as ``execbox bench``. Usage: bench/engine_bench.py [N]"""

import sys

from execbox.bench import main
from execbox.settings import Settings

if __name__ == "__main__":
    main(Settings(), runs=int(sys.argv[1]) if len(sys.argv) > 1 else 30, concurrency=4)
