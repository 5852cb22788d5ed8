import sys

from pytest_aibench.builder import main

sys.exit(main())
