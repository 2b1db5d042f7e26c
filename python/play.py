#!/usr/bin/env python3
"""Plays a video with vistream: ``python python/play.py SOURCE [options]``.

The same as ``vistream play``; see ``--help`` for the options (window controls: space pause,
arrows seek, ``.``/``,`` step, f fullscreen, q quit).
"""
import os
import sys

# Python puts this script's folder first on sys.path, and that folder holds the *source* of
# the vistream package (without its compiled engine). Import the installed package instead.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

from vistream.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["play", *sys.argv[1:]]))
