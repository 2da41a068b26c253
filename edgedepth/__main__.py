import sys

from edgedepth.cli.main import main

sys.exit(main())
