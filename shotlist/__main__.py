from shotlist.cli import main

main()
