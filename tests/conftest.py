pytest_plugins = ["tests.support.pyindex", "tests.support.gitrepo"]
