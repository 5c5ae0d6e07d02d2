from analyzer.client.main import main

main()
