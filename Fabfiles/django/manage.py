#!/usr/bin/env python3
"""Development entry point; installed, the same is the `vrmd-django-manage` script."""
from vrmdsite.manage import main

if __name__ == "__main__":
    main()
