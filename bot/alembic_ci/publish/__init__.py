"""Publishers: where a rendered report goes. ``workflow`` speaks the GitHub Actions runner's
protocol (workflow commands, output and summary files); ``github`` keeps the sticky PR comment."""
