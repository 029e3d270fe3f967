package smtpfake

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
)

// Mail is a parsed message: headers, and the decoded text and HTML bodies.
type Mail struct {
	Envelope  Message
	Header    mail.Header
	Subject   string
	MessageID string
	To        string
	Text      string
	HTML      string
	// ContentTypes lists every part's media type, outermost first.
	ContentTypes []string
}

// Parse reads a message as a mail client would: MIME structure, transfer
// encodings, encoded-word subjects.
func Parse(data []byte) (*Mail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	m := &Mail{Header: msg.Header, Subject: subject, MessageID: msg.Header.Get("Message-Id"), To: msg.Header.Get("To")}
	if err := m.walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Mail) walk(contentType, encoding string, body io.Reader) error {
	if contentType == "" {
		contentType = "text/plain"
	}
	media, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content type %q: %w", contentType, err)
	}
	m.ContentTypes = append(m.ContentTypes, media)
	if strings.HasPrefix(media, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("multipart: %w", err)
			}
			if err := m.walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("%s body: %w", media, err)
	}
	switch media {
	case "text/plain":
		m.Text += string(b)
	case "text/html":
		m.HTML += string(b)
	}
	return nil
}

var linkPattern = regexp.MustCompile(`https?://[^\s"<>]+`)

// Links returns the URLs in the text body that contain substr, in order.
func (m *Mail) Links(substr string) []string {
	var out []string
	for _, l := range linkPattern.FindAllString(m.Text, -1) {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}
