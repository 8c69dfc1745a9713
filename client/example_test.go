package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"

	"cairn/client"
)

// ExampleParseURI shows the artifact locations the client understands.
func ExampleParseURI() {
	for _, s := range []string{
		"runs:/0123456789abcdef0123456789abcdef/models_mlflow",
		"models:/m-0123456789abcdef0123456789abcdef",
		"s3://mlflow/1/0123456789abcdef0123456789abcdef/artifacts/model.xgb",
	} {
		u, err := client.ParseURI(s)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s id=%q path=%q bucket=%q key=%q\n", u.Kind, u.ID, u.Path, u.Bucket, u.Key)
	}
	// Output:
	// run id="0123456789abcdef0123456789abcdef" path="models_mlflow" bucket="" key=""
	// model id="m-0123456789abcdef0123456789abcdef" path="" bucket="" key=""
	// object id="" path="" bucket="mlflow" key="1/0123456789abcdef0123456789abcdef/artifacts/model.xgb"
}

// ExampleHash computes, without a server, the digest (what b3sum prints)
// and the chunks the server would record for some content.
func ExampleHash() {
	content := strings.NewReader(strings.Repeat("booster ", 1000))
	fh, err := client.Hash(context.Background(), content, content.Size())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(fh.Size, len(fh.Recipe), fh.Digest.Short())
	// Output: 8000 1 e546b495ecd8
}

// ExampleAPIError shows how to tell error answers apart.
func ExampleAPIError() {
	var err error = &client.APIError{Status: http.StatusNotFound, Code: "NoSuchKey", Message: "no such key"}
	err = fmt.Errorf("get mlflow/model.xgb: %w", err)
	fmt.Println(errors.Is(err, client.ErrNotFound), errors.Is(err, client.ErrUnknownOutcome))
	// Output: true false
}

// ExampleNew connects to a three-node cluster over TLS with a private
// certificate authority and a bearer token.
func ExampleNew() {
	ca, err := os.ReadFile("/etc/cairn/ca.pem")
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.New(client.Config{
		Endpoints: []string{"https://cairn1:8700", "https://cairn2:8700", "https://cairn3:8700"},
		Token:     os.Getenv("CAIRN_TOKEN"),
		CACert:    ca,
	})
	if err != nil {
		log.Fatal(err)
	}
	st, err := c.Admin().ClusterStatus(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("leader:", st.Leader)
}

// ExampleClient_PutDir logs an MLflow model folder under a run's
// artifacts, where runs:/<run_id>/model resolves; logging it again sends
// no chunk.
func ExampleClient_PutDir() {
	c, err := client.New(client.Config{Endpoints: []string{"http://127.0.0.1:8700"}})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	res, err := c.PutDir(ctx, "mlflow", "1/0123456789abcdef0123456789abcdef/artifacts/model", "./model", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("logged %d bytes in %d files, sent %d\n", res.Bytes, res.Files, res.SentBytes)
}

// ExampleClient_Get downloads a run's model folder; an interrupted
// download resumes where it stopped when run again.
func ExampleClient_Get() {
	c, err := client.New(client.Config{})
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Get(context.Background(), "runs:/0123456789abcdef0123456789abcdef/model", "./model", nil)
	if errors.Is(err, client.ErrNotFound) {
		log.Fatal("no such run or path")
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d files, %d bytes fetched\n", res.Files, res.FetchedBytes)
}

// ExampleClient_GetRange reads the first kilobyte of an object, fetching
// only the chunk that holds it.
func ExampleClient_GetRange() {
	c, err := client.New(client.Config{})
	if err != nil {
		log.Fatal(err)
	}
	b, err := c.GetRange(context.Background(), "mlflow", "1/0123456789abcdef0123456789abcdef/artifacts/model/MLmodel", 0, 1024)
	if err != nil {
		log.Fatal(err)
	}
	os.Stdout.Write(b)
}

// ExampleClient_PutRef moves a ref with compare-and-swap: it fails with
// ErrConflict if someone moved it first, and with ErrUnknownOutcome
// (never retried for you) if the answer was lost.
func ExampleClient_PutRef() {
	c, err := client.New(client.Config{})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	cur, err := c.Ref(ctx, "production")
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.PutRef(ctx, "production", client.RefRequest{Target: "models:/m-0123456789abcdef0123456789abcdef", IfVersion: &cur.Version})
	switch {
	case errors.Is(err, client.ErrConflict):
		fmt.Println("moved by someone else; read it again")
	case errors.Is(err, client.ErrUnknownOutcome):
		fmt.Println("unknown: read the ref to find out")
	case err != nil:
		log.Fatal(err)
	}
}
