import sys

from pytest_aibench.zoo.build import main

sys.exit(main())
