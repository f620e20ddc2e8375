from nagexp.cli import main

main()
