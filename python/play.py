#!/usr/bin/env python3
"""Plays a video with vistream: ``python python/play.py SOURCE [options]``.

The same as ``vistream play``; see ``--help`` for the options (window controls: space pause,
arrows seek, ``.``/``,`` step, f fullscreen, q quit).
"""
import sys

from vistream.cli import main

if __name__ == "__main__":
    sys.exit(main(["play", *sys.argv[1:]]))
