import sys

from nc_core.cli import main

sys.exit(main())
