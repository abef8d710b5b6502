from kubesteward.cli.main import main

main()
