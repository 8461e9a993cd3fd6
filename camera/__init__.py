"""Camera: frame sources, face landmarks, quality gates, liveness challenge, attack checks, matching.

Knows nothing of the kiosk or Qt. Library types (mediapipe, dlib) stop at the boundary: results are
frozen dataclasses and numpy arrays.
"""
