# `python -m mailprobe` runs the command line, which lives above the core (cli/): this entry
# point is the one import of it from here (the import contracts allow exactly this one).
from cli.main import main

main()
