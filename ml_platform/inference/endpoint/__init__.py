"""The SageMaker endpoint construct, split along its seams."""
