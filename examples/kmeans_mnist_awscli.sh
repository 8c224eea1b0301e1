#!/bin/sh
# K-Means on Fashion-MNIST with the aws CLI only, against a local kiln:
# convert to RecordIO-protobuf -> upload -> training job with the built-in
# kmeans image -> model, endpoint config, endpoint -> invoke with text/csv
# -> batch transform of the 10,000 test images -> the instance-hours each
# step used (Cost Explorer) -> clean up.
#
#   make run                             # in another terminal
#   sh examples/kmeans_mnist_awscli.sh   # ROWS=10000 for a quicker run
#
# Environment: KILN_URL (default http://127.0.0.1:9000), KILN_DATA_DIR
# (default ./var, for var/credentials), ROWS (training images, default all
# 60,000), OUT (where predictions.json and batch.jsonl are left, default
# .), and the usual
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY if you do not use var/credentials.
# The CLI's own waiters poll every 30-120 s; the loops below poll each second.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
URL=${KILN_URL:-http://127.0.0.1:9000}
KILN=${KILN_BIN:-$here/../build/kiln}
DATA=${KILN_DATA_DIR:-$here/../var}
ROWS=${ROWS:-60000}
OUT=${OUT:-.}
FM=/usr/share/datasets/fashion-mnist
IMAGE=382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
if [ -z "${AWS_ACCESS_KEY_ID:-}" ]; then
    export AWS_SHARED_CREDENTIALS_FILE="$DATA/credentials" AWS_PROFILE=kiln
fi
start=$(date +%s)
stage() { echo "[$(( $(date +%s) - start )) s] $*"; }
aws() { /usr/bin/aws --endpoint-url "$URL" "$@"; }
# wait_job training|transform NAME STATUS-FIELD: polls until Completed.
wait_job() {
    while :; do
        status=$(aws sagemaker "describe-$1-job" "--$1-job-name" "$2" \
            --query "$3" --output text)
        case $status in
        Completed) return ;;
        Failed | Stopped)
            aws sagemaker "describe-$1-job" "--$1-job-name" "$2" \
                --query FailureReason --output text >&2
            exit 1 ;;
        esac
        sleep 1
    done
}

work=$(mktemp -d)
job=kmeans-cli-$(date +%s)
bucket=kiln-cli-demo
cleanup() {
    stage "cleaning up"
    aws sagemaker delete-endpoint --endpoint-name "$job" 2>/dev/null || true
    aws sagemaker delete-endpoint-config --endpoint-config-name "$job" 2>/dev/null || true
    aws sagemaker delete-model --model-name "$job" 2>/dev/null || true
    aws s3 rb "s3://$bucket" --force >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

stage "converting $ROWS Fashion-MNIST images to RecordIO-protobuf"
"$KILN" admin convert --from idx --to recordio --rows "$ROWS" \
    --labels "$FM/train-labels-idx1-ubyte.gz" "$FM/train-images-idx3-ubyte.gz" \
    "$work/train.pbr"
"$KILN" admin convert --from idx --to csv --rows 100 \
    "$FM/t10k-images-idx3-ubyte.gz" "$work/test.csv"

account=$(aws sts get-caller-identity --query Account --output text)
role=arn:aws:iam::$account:role/SageMakerRole
stage "uploading to s3://$bucket/"
aws s3 mb "s3://$bucket" >/dev/null 2>&1 || true
aws s3 cp --quiet "$work/train.pbr" "s3://$bucket/kmeans/train/train.pbr"

stage "training k-means (k=10, feature_dim=784) as job $job"
aws sagemaker create-training-job --training-job-name "$job" --role-arn "$role" \
    --algorithm-specification "TrainingImage=$IMAGE,TrainingInputMode=File" \
    --hyper-parameters k=10,feature_dim=784,mini_batch_size=500 \
    --input-data-config "[{\"ChannelName\":\"train\",\"DataSource\":{\"S3DataSource\":{
        \"S3DataType\":\"S3Prefix\",\"S3Uri\":\"s3://$bucket/kmeans/train/\",
        \"S3DataDistributionType\":\"FullyReplicated\"}}}]" \
    --output-data-config "S3OutputPath=s3://$bucket/kmeans/output" \
    --resource-config InstanceType=ml.c5.xlarge,InstanceCount=1,VolumeSizeInGB=10 \
    --stopping-condition MaxRuntimeInSeconds=3600 >/dev/null
wait_job training "$job" TrainingJobStatus
model=$(aws sagemaker describe-training-job --training-job-name "$job" \
    --query ModelArtifacts.S3ModelArtifacts --output text)
stage "trained; model at $model"

stage "deploying the model to an endpoint"
aws sagemaker create-model --model-name "$job" --execution-role-arn "$role" \
    --primary-container "Image=$IMAGE,ModelDataUrl=$model" >/dev/null
aws sagemaker create-endpoint-config --endpoint-config-name "$job" \
    --production-variants "VariantName=AllTraffic,ModelName=$job,InitialInstanceCount=1,InstanceType=ml.m5.large" >/dev/null
aws sagemaker create-endpoint --endpoint-name "$job" --endpoint-config-name "$job" >/dev/null
while :; do
    status=$(aws sagemaker describe-endpoint --endpoint-name "$job" \
        --query EndpointStatus --output text)
    [ "$status" = InService ] && break
    [ "$status" = Failed ] && { echo "the endpoint failed" >&2; exit 1; }
    sleep 1
done

stage "sending 100 test images (text/csv)"
mkdir -p "$OUT"
aws sagemaker-runtime invoke-endpoint --endpoint-name "$job" \
    --content-type text/csv --body "fileb://$work/test.csv" \
    "$OUT/predictions.json" >/dev/null
printf 'closest clusters: '
grep -o '"closest_cluster": *[0-9.]*' "$OUT/predictions.json" |
    sed 's/.*: *//; s/\.0$//' | tr '\n' ' '
echo
stage "predictions in $OUT/predictions.json"

stage "batch transform of the 10,000 test images"
"$KILN" admin convert --from idx --to csv \
    "$FM/t10k-images-idx3-ubyte.gz" "$work/t10k.csv"
aws s3 cp --quiet "$work/t10k.csv" "s3://$bucket/kmeans/batch-in/t10k.csv"
aws sagemaker create-transform-job --transform-job-name "$job" --model-name "$job" \
    --transform-input "{\"DataSource\":{\"S3DataSource\":{\"S3DataType\":\"S3Prefix\",
        \"S3Uri\":\"s3://$bucket/kmeans/batch-in/\"}},
        \"ContentType\":\"text/csv\",\"SplitType\":\"Line\"}" \
    --transform-output "S3OutputPath=s3://$bucket/kmeans/batch-out,Accept=application/jsonlines,AssembleWith=Line" \
    --transform-resources InstanceType=ml.m5.large,InstanceCount=1 >/dev/null
wait_job transform "$job" TransformJobStatus
aws s3 cp --quiet "s3://$bucket/kmeans/batch-out/t10k.csv.out" "$OUT/batch.jsonl"
stage "$(wc -l <"$OUT/batch.jsonl") predictions in $OUT/batch.jsonl"

stage "deleting the endpoint"
aws sagemaker delete-endpoint --endpoint-name "$job"
while aws sagemaker describe-endpoint --endpoint-name "$job" >/dev/null 2>&1; do
    sleep 1
done
stage "instance-hours by usage type today (Cost Explorer; priced with --price-list)"
aws ce get-cost-and-usage \
    --time-period "Start=$(date -u -d yesterday +%F),End=$(date -u -d tomorrow +%F)" \
    --granularity DAILY --metrics UsageQuantity UnblendedCost \
    --group-by Type=DIMENSION,Key=USAGE_TYPE \
    --query 'ResultsByTime[].Groups[].[Keys[0],Metrics.UsageQuantity.Amount,Metrics.UnblendedCost.Amount]' \
    --output text
