from fcslim.cli import main

main()
