"""A scikit-learn training script in the SageMaker SDK's script mode: the
same file trains (run as a program, with hyper-parameters as arguments
and SM_* variables) and serves (imported for model_fn)."""
import argparse
import glob
import os

import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--n-estimators", type=int, default=100)
    p.add_argument("--max-depth", type=int, default=None)
    p.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"))
    p.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    p.add_argument("--test", default=os.environ.get("SM_CHANNEL_TEST"))
    args = p.parse_args()

    def load(channel):
        data = np.loadtxt(glob.glob(os.path.join(channel, "*.csv"))[0], delimiter=",")
        return data[:, 1:], data[:, 0].astype(int)

    X, y = load(args.train)
    model = RandomForestClassifier(n_estimators=args.n_estimators,
                                   max_depth=args.max_depth, random_state=0)
    model.fit(X, y)
    Xt, yt = load(args.test)
    print(f"validation:accuracy={model.score(Xt, yt):.4f};")
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
