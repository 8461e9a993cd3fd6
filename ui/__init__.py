"""The Qt shell: renders the kiosk state and forwards user events. The only package that imports Qt."""
