package kubequeuecli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/kubequeue/kubequeue"
)

// payloadArgs returns the worker and the payload that args name: WORKER and
// JSON, or "-" to read the JSON from standard input. The payload is
// decoded strictly into the worker's type, before any API call.
func (c *cli) payloadArgs(args []string) (kubequeue.AnyWorker, any, error) {
	if len(args) != 2 {
		return nil, nil, fmt.Errorf("takes WORKER and JSON (or - to read it from standard input), not %d arguments", len(args))
	}
	if err := kubequeue.ValidateWorkers(c.workers...); err != nil {
		return nil, nil, err
	}
	var worker kubequeue.AnyWorker
	var known []string
	for _, w := range c.workers {
		known = append(known, w.Name())
		if w.Name() == args[0] {
			worker = w
		}
	}
	if worker == nil {
		return nil, nil, fmt.Errorf("%w: %q: this program's workers are %s", kubequeue.ErrUnknownWorker, args[0], strings.Join(known, ", "))
	}
	data := []byte(args[1])
	if args[1] == "-" {
		var err error
		if data, err = io.ReadAll(io.LimitReader(c.streams.In, kubequeue.MaxPayloadSize+1)); err != nil {
			return nil, nil, fmt.Errorf("read the payload from standard input: %w", err)
		}
	}
	payload, err := worker.DecodePayload(data)
	if err != nil {
		return nil, nil, err
	}
	return worker, payload, nil
}

func (c *cli) workerNames() string {
	names := make([]string, len(c.workers))
	for i, w := range c.workers {
		names[i] = w.Name()
	}
	return strings.Join(names, ", ")
}

func (c *cli) enqueueCommand() *cobra.Command {
	var output, name string
	cmd := &cobra.Command{
		Use:   "enqueue WORKER JSON",
		Short: "Enqueue a Job of one of this program's workers",
		Long: `Enqueue a Job (Queue.Enqueue) of WORKER, with the payload JSON, or read from
standard input when JSON is -. The payload is decoded strictly into the
worker's type: a field it does not have or a value of the wrong type is an
error, before any API call. The Job goes to the namespace of -n, unless
the worker sets its own.

Workers: ` + c.workerNames(),
		Example: `  myservice kubequeue enqueue resize-image '{"imageID": "img-7"}'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, outputTable, outputName); err != nil {
				return err
			}
			worker, payload, err := c.payloadArgs(args)
			if err != nil {
				return err
			}
			q, _, err := c.queue()
			if err != nil {
				return err
			}
			h, err := q.Enqueue(cmd.Context(), worker, payload, jobName(name)...)
			if err != nil {
				return err
			}
			if output == outputName {
				return printNames(c.streams.Out, h)
			}
			_, err = fmt.Fprintf(c.streams.Out, "job.batch/%s created\n", h.Name)
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Output format: name prints job.batch/NAME")
	cmd.Flags().StringVar(&name, "name", "", "The Job's name (default: WORKER-<random suffix>)")
	return cmd
}

// jobName returns the option that names the Job name, if any.
func jobName(name string) []kubequeue.EnqueueOption {
	if name == "" {
		return nil
	}
	return []kubequeue.EnqueueOption{kubequeue.WithJobName(name)}
}

func (c *cli) renderCommand() *cobra.Command {
	var output, name string
	cmd := &cobra.Command{
		Use:   "render WORKER JSON",
		Short: "Print the Job that enqueue would create, without creating it",
		Long: `Print the Job that enqueue would create (Queue.Build) for WORKER and the
payload JSON (or - to read it from standard input), as YAML (or JSON with
-o json), without any API call: unless --name names it, its name ends in
a random suffix, as each enqueue's does.

Workers: ` + c.workerNames(),
		Example: `  myservice kubequeue render resize-image '{"imageID": "img-7"}' | kubectl apply --dry-run=server -f -`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, outputYAML, outputJSON); err != nil {
				return err
			}
			worker, payload, err := c.payloadArgs(args)
			if err != nil {
				return err
			}
			q, _, err := c.queueFor(true)
			if err != nil {
				return err
			}
			job, err := q.Build(worker, payload, jobName(name)...)
			if err != nil {
				return err
			}
			if output == outputJSON {
				return (&printers.JSONPrinter{}).PrintObj(job, c.streams.Out)
			}
			return (&printers.YAMLPrinter{}).PrintObj(job, c.streams.Out)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", outputYAML, "Output format: yaml or json")
	cmd.Flags().StringVar(&name, "name", "", "The Job's name (default: WORKER-<random suffix>)")
	return cmd
}
