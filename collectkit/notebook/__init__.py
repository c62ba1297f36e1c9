"""What the notebooks call: the model chooser, server helpers, Colab support."""
