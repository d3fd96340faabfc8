pytest_plugins = [
    "tests.support.pyindex",
    "tests.support.gitrepo",
    "tests.support.loopback_images",
]
