from swaplab.cli.main import main

main()
