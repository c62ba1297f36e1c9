"""The public API's steps (what `import collectkit` gives): serve, collect, grade, load, compare."""
