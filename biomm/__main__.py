"""``python -m biomm``: the same as the ``biomm`` command (used with ``torchrun -m biomm``)."""

from biomm.cli.main import main

if __name__ == "__main__":
    main()
