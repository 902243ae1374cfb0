import sys

from aisat.cli import main

sys.exit(main())
