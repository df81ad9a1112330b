"""Trains the sklearn-iris example model exactly as KServe's sample does: an SVC on
scikit-learn's bundled iris data, saved with joblib as model.joblib.

Usage: /usr/bin/python3 train.py OUTPUT_DIR   (Debian's python3 has scikit-learn)
"""
import os
import sys

import joblib
from sklearn import datasets, svm


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(out, exist_ok=True)
    iris = datasets.load_iris()
    model = svm.SVC(gamma="scale")
    model.fit(iris.data, iris.target)
    tmp = os.path.join(out, ".model.joblib.tmp")
    joblib.dump(model, tmp)
    os.replace(tmp, os.path.join(out, "model.joblib"))
    print(os.path.join(out, "model.joblib"))


if __name__ == "__main__":
    main()
