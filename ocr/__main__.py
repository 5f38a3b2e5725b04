import sys

from ocr.cli import main

sys.exit(main())
