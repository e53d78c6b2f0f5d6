import sys

from patchforcing.cli.main import main

sys.exit(main())
