"""KFP's type modules (skiff's implementation): artifact classes and annotations."""
