import sys

from ._bench import main

sys.exit(main())
