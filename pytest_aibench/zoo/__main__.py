import sys

from pytest_aibench.zoo.builder import main

sys.exit(main())
