"""Training of the face-vid2vid family: data preparation, the paper's losses, the trainer, evaluation.

Modules, one idea each:
``shards``      the on-disk dataset: per-clip JPEG shards and ``index.json`` (read and written)
``prep``        ``vid2vid-prep``: videos -> tracked, steady face crops -> a dataset
``dataset``     (source, driving) frame pairs of one clip, sampled per step from a seed
``warp``        the random affine + thin-plate-spline warp of the equivariance loss
``losses``      the paper's loss terms as small functions
``perceptual``  a VGG19 feature extractor (torchvision's key names) and the multi-scale loss
``pose_reference`` head-pose references from dlib landmarks by ``cv2.solvePnP``
``objective``   the weighted objective of one batch, generator side and discriminator side
``trainer``     Adam steps, mixed precision, logs, checkpoints, exact resume
``samples``     PNG grids of source | driving | result
``train``       ``vid2vid-train``
``evaluate``    ``vid2vid-eval``: the paper's same-identity table and cross-identity samples
"""
