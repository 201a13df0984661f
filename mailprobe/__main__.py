from mailprobe.cli import main

main()
