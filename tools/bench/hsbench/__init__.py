"""The checkpoint benchmark's modules; tools/bench/bench.py is the program."""
