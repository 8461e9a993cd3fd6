"""The hall console: server-rendered pages for hall staff and reviewers (:mod:`center.console.routes`)."""
