"""The NumPy core: vocabulary, batching, cells, model, loss, optimizers, trainer,
checkpoints. Nothing in here imports a UI library or pluggy."""
