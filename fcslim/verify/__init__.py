"""Prove a bundle loads on the target: roots, interpreters, import checks, bytecode."""
