"""The script core connector: run the user's JavaScript in a QuickJS sandbox."""
