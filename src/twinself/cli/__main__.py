from twinself.cli.app import main

main()
