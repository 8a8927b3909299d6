from spot.cli import main

main()
