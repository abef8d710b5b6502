from kubesteward.cli.main import run

run()
